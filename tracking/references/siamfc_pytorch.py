"""siamfc-pytorch's tracker (``siamfc/siamfc.py`` TrackerSiamFC with ``parse_args``' defaults), its network
(``backbones.py`` AlexNetV1, ``heads.py`` SiamFC) and crop (``ops.py`` crop_and_resize), restated from those files.

Two uses: the oracle of the SiamFC tracker tests (the same boxes to 1e-3 px on the same weights and frames) and the
reference side of ``make bench-reference``. Its state dict has the suite SiamFC's key names
(``tracking.models.siamfc.SiamFC`` loads it as it is).
"""
import cv2
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


class ReferenceAlexNetV1(nn.Module):
    """siamfc-pytorch backbones.py AlexNetV1 (BatchNorm eps 1e-6, momentum 0.05)."""

    def __init__(self):
        super().__init__()

        def bn(c):
            return nn.BatchNorm2d(c, eps=1e-6, momentum=0.05)

        self.conv1 = nn.Sequential(nn.Conv2d(3, 96, 11, 2), bn(96), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2))
        self.conv2 = nn.Sequential(nn.Conv2d(96, 256, 5, 1, groups=2), bn(256), nn.ReLU(inplace=True),
                                   nn.MaxPool2d(3, 2))
        self.conv3 = nn.Sequential(nn.Conv2d(256, 384, 3, 1), bn(384), nn.ReLU(inplace=True))
        self.conv4 = nn.Sequential(nn.Conv2d(384, 384, 3, 1, groups=2), bn(384), nn.ReLU(inplace=True))
        self.conv5 = nn.Sequential(nn.Conv2d(384, 256, 3, 1, groups=2))

    def forward(self, x):
        return self.conv5(self.conv4(self.conv3(self.conv2(self.conv1(x)))))


class ReferenceHead(nn.Module):
    """siamfc-pytorch heads.py SiamFC: _fast_xcorr(z, x) * out_scale."""

    def __init__(self, out_scale=0.001):
        super().__init__()
        self.out_scale = out_scale

    def forward(self, z, x):
        nz = z.size(0)
        nx, c, h, w = x.size()
        out = F.conv2d(x.view(-1, nz * c, h, w), z, groups=nz)
        return out.view(nx, -1, out.size(-2), out.size(-1)) * self.out_scale


class ReferenceNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = ReferenceAlexNetV1()
        self.head = ReferenceHead()

    def forward(self, z, x):
        return self.head(self.backbone(z), self.backbone(x))


def reference_crop_and_resize(img, center, size, out_size, border_value, interp=cv2.INTER_LINEAR):
    """siamfc-pytorch ops.py crop_and_resize; ``center`` is (y, x)."""
    size = round(size)
    corners = np.concatenate((np.round(center - (size - 1) / 2), np.round(center - (size - 1) / 2) + size))
    corners = np.round(corners).astype(int)
    pads = np.concatenate((-corners[:2], corners[2:] - img.shape[:2]))
    npad = max(0, int(pads.max()))
    if npad > 0:
        img = cv2.copyMakeBorder(img, npad, npad, npad, npad, cv2.BORDER_CONSTANT, value=border_value)
    corners = (corners + npad).astype(int)
    patch = img[corners[0]:corners[2], corners[1]:corners[3]]
    return cv2.resize(patch, (out_size, out_size), interpolation=interp)


class ReferenceTrackerSiamFC:
    """siamfc-pytorch siamfc.py TrackerSiamFC.init / update with parse_args' defaults (float32 state as there)."""

    def __init__(self, net, **kwargs):
        self.net = net.eval()
        self.cfg = dict(out_scale=0.001, exemplar_sz=127, instance_sz=255, context=0.5, scale_num=3,
                        scale_step=1.0375, scale_lr=0.59, scale_penalty=0.9745, window_influence=0.176,
                        response_sz=17, response_up=16, total_stride=8)
        self.cfg.update({key: value for key, value in kwargs.items() if key in self.cfg})  # as parse_args

    @torch.no_grad()
    def init(self, img, box):
        cfg = self.cfg
        box = np.array([box[1] - 1 + (box[3] - 1) / 2, box[0] - 1 + (box[2] - 1) / 2, box[3], box[2]],
                       dtype=np.float32)
        self.center, self.target_sz = box[:2], box[2:]
        self.upscale_sz = cfg["response_up"] * cfg["response_sz"]
        self.hann_window = np.outer(np.hanning(self.upscale_sz), np.hanning(self.upscale_sz))
        self.hann_window /= self.hann_window.sum()
        self.scale_factors = cfg["scale_step"] ** np.linspace(-(cfg["scale_num"] // 2), cfg["scale_num"] // 2,
                                                              cfg["scale_num"])
        context = cfg["context"] * np.sum(self.target_sz)
        self.z_sz = np.sqrt(np.prod(self.target_sz + context))
        self.x_sz = self.z_sz * cfg["instance_sz"] / cfg["exemplar_sz"]
        self.avg_color = np.mean(img, axis=(0, 1))
        z = reference_crop_and_resize(img, self.center, self.z_sz, cfg["exemplar_sz"], self.avg_color)
        z = torch.from_numpy(z).permute(2, 0, 1).unsqueeze(0).float()
        self.kernel = self.net.backbone(z)

    @torch.no_grad()
    def update(self, img):
        cfg = self.cfg
        x = [reference_crop_and_resize(img, self.center, self.x_sz * f, cfg["instance_sz"], self.avg_color)
             for f in self.scale_factors]
        x = torch.from_numpy(np.stack(x, axis=0)).permute(0, 3, 1, 2).float()
        responses = self.net.head(self.kernel, self.net.backbone(x)).squeeze(1).cpu().numpy()
        responses = np.stack([cv2.resize(u, (self.upscale_sz, self.upscale_sz), interpolation=cv2.INTER_CUBIC)
                              for u in responses])
        responses[:cfg["scale_num"] // 2] *= cfg["scale_penalty"]
        responses[cfg["scale_num"] // 2 + 1:] *= cfg["scale_penalty"]
        scale_id = np.argmax(np.amax(responses, axis=(1, 2)))
        response = responses[scale_id]
        response -= response.min()
        response /= response.sum() + 1e-16
        response = (1 - cfg["window_influence"]) * response + cfg["window_influence"] * self.hann_window
        loc = np.unravel_index(response.argmax(), response.shape)
        disp_in_response = np.array(loc) - (self.upscale_sz - 1) / 2
        disp_in_instance = disp_in_response * cfg["total_stride"] / cfg["response_up"]
        disp_in_image = disp_in_instance * self.x_sz * self.scale_factors[scale_id] / cfg["instance_sz"]
        self.center += disp_in_image
        scale = (1 - cfg["scale_lr"]) * 1.0 + cfg["scale_lr"] * self.scale_factors[scale_id]
        self.target_sz *= scale
        self.z_sz *= scale
        self.x_sz *= scale
        return np.array([self.center[1] + 1 - (self.target_sz[1] - 1) / 2,
                         self.center[0] + 1 - (self.target_sz[0] - 1) / 2, self.target_sz[1], self.target_sz[0]])
