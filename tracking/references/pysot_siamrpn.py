"""pysot's SiamRPN++ tracking step (``pysot/tracker/siamrpn_tracker.py`` with ``base_tracker.get_subwindow`` and
``models/model_builder.py``'s template / track), restated in numpy from their equations on BGR frames as
``cv2.imread`` gives them. It runs the suite's network modules (backbone -> neck -> head), so it differs from
``tracking.trackers.siamrpn.SiamRPNTracker`` only in the step around the network.

Two uses: the oracle of the tracker tests (the same boxes to 1e-3 px on the same weights and frames) and the
reference side of ``make bench-reference`` (the same frames timed through both). ``cfg`` is pysot's flat namespace:
the network's values (exemplar/instance size, anchor stride, ratios, scales, base size) and the tracker's (penalty_k,
window_influence, lr, context_amount).
"""
import cv2
import numpy as np
import torch
import torch.nn.functional as F


class ReferenceModelBuilder:
    """pysot's ModelBuilder.template / track on our network's modules (backbone -> neck -> rpn head)."""

    def __init__(self, model):
        self.model = model

    def template(self, z):
        self.zf = self.model.neck(self.model.backbone(z))

    def track(self, x):
        xf = self.model.neck(self.model.backbone(x))
        cls, loc = self.model.head(self.zf, xf)
        return {"cls": cls, "loc": loc}


class ReferenceTracker:
    """pysot tracker/siamrpn_tracker.py + base_tracker.get_subwindow, written from their equations."""

    def __init__(self, model, cfg):
        self.cfg = cfg
        self.model = ReferenceModelBuilder(model)
        self.score_size = (cfg.instance_size - cfg.exemplar_size) // cfg.anchor_stride + 1 + cfg.base_size
        self.anchor_num = len(cfg.anchor_ratios) * len(cfg.anchor_scales)
        hanning = np.hanning(self.score_size)
        self.window = np.tile(np.outer(hanning, hanning).flatten(), self.anchor_num)
        self.anchors = self.generate_anchor(self.score_size)

    def generate_anchor(self, score_size):
        stride = self.cfg.anchor_stride
        base = []
        for r in self.cfg.anchor_ratios:
            ws = int(np.sqrt(stride * stride * 1.0 / r))
            hs = int(ws * r)
            for s in self.cfg.anchor_scales:
                base.append([0, 0, ws * s, hs * s])
        anchor = np.tile(np.array(base, dtype=np.float32), score_size * score_size).reshape((-1, 4))
        ori = -(score_size // 2) * stride
        grid = [ori + stride * d for d in range(score_size)]
        xx, yy = np.meshgrid(grid, grid)
        anchor[:, 0] = np.tile(xx.flatten(), (len(base), 1)).flatten()
        anchor[:, 1] = np.tile(yy.flatten(), (len(base), 1)).flatten()
        return anchor

    @staticmethod
    def get_subwindow(im, pos, model_sz, original_sz, avg_chans):
        sz = original_sz
        c = (original_sz + 1) / 2
        xmin = np.floor(pos[0] - c + 0.5)
        xmax = xmin + sz - 1
        ymin = np.floor(pos[1] - c + 0.5)
        ymax = ymin + sz - 1
        left, top = int(max(0.0, -xmin)), int(max(0.0, -ymin))
        right, bottom = int(max(0.0, xmax - im.shape[1] + 1)), int(max(0.0, ymax - im.shape[0] + 1))
        xmin, xmax, ymin, ymax = xmin + left, xmax + left, ymin + top, ymax + top
        r, cc, k = im.shape
        if any([top, bottom, left, right]):
            te = np.zeros((r + top + bottom, cc + left + right, k), np.uint8)
            te[top:top + r, left:left + cc] = im
            if top:
                te[0:top, left:left + cc] = avg_chans
            if bottom:
                te[r + top:, left:left + cc] = avg_chans
            if left:
                te[:, 0:left] = avg_chans
            if right:
                te[:, cc + left:] = avg_chans
            patch = te[int(ymin):int(ymax + 1), int(xmin):int(xmax + 1)]
        else:
            patch = im[int(ymin):int(ymax + 1), int(xmin):int(xmax + 1)]
        if not np.array_equal(model_sz, original_sz):
            patch = cv2.resize(patch, (model_sz, model_sz))
        return torch.from_numpy(patch.transpose(2, 0, 1)[np.newaxis].astype(np.float32))

    def init(self, img, bbox):
        cfg = self.cfg
        self.center_pos = np.array([bbox[0] + (bbox[2] - 1) / 2, bbox[1] + (bbox[3] - 1) / 2])
        self.size = np.array([bbox[2], bbox[3]])
        w_z = self.size[0] + cfg.context_amount * np.sum(self.size)
        h_z = self.size[1] + cfg.context_amount * np.sum(self.size)
        s_z = round(np.sqrt(w_z * h_z))
        self.channel_average = np.mean(img, axis=(0, 1))
        self.model.template(self.get_subwindow(img, self.center_pos, cfg.exemplar_size, s_z, self.channel_average))

    def track(self, img):
        cfg = self.cfg
        w_z = self.size[0] + cfg.context_amount * np.sum(self.size)
        h_z = self.size[1] + cfg.context_amount * np.sum(self.size)
        s_z = np.sqrt(w_z * h_z)
        scale_z = cfg.exemplar_size / s_z
        s_x = s_z * (cfg.instance_size / cfg.exemplar_size)
        x_crop = self.get_subwindow(img, self.center_pos, cfg.instance_size, round(s_x), self.channel_average)
        outputs = self.model.track(x_crop)
        score = outputs["cls"].permute(1, 2, 3, 0).contiguous().view(2, -1).permute(1, 0)
        score = F.softmax(score, dim=1).data[:, 1].cpu().numpy()
        delta = outputs["loc"].permute(1, 2, 3, 0).contiguous().view(4, -1).data.cpu().numpy()
        anchor = self.anchors
        delta[0, :] = delta[0, :] * anchor[:, 2] + anchor[:, 0]
        delta[1, :] = delta[1, :] * anchor[:, 3] + anchor[:, 1]
        delta[2, :] = np.exp(delta[2, :]) * anchor[:, 2]
        delta[3, :] = np.exp(delta[3, :]) * anchor[:, 3]
        pred = delta

        def change(r):
            return np.maximum(r, 1.0 / r)

        def sz(w, h):
            pad = (w + h) * 0.5
            return np.sqrt((w + pad) * (h + pad))

        s_c = change(sz(pred[2, :], pred[3, :]) / sz(self.size[0] * scale_z, self.size[1] * scale_z))
        r_c = change((self.size[0] / self.size[1]) / (pred[2, :] / pred[3, :]))
        penalty = np.exp(-(r_c * s_c - 1) * cfg.penalty_k)
        pscore = penalty * score * (1 - cfg.window_influence) + self.window * cfg.window_influence
        best = np.argmax(pscore)
        bbox = pred[:, best] / scale_z
        lr = penalty[best] * score[best] * cfg.lr
        cx, cy = bbox[0] + self.center_pos[0], bbox[1] + self.center_pos[1]
        width = self.size[0] * (1 - lr) + bbox[2] * lr
        height = self.size[1] * (1 - lr) + bbox[3] * lr
        cx = max(0, min(cx, img.shape[1]))
        cy = max(0, min(cy, img.shape[0]))
        width = max(10, min(width, img.shape[1]))
        height = max(10, min(height, img.shape[0]))
        self.center_pos = np.array([cx, cy])
        self.size = np.array([width, height])
        return [cx - width / 2, cy - height / 2, width, height]
