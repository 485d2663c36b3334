"""SiamRPN/SiamRPN++ networks: configs and presets, backbones, neck and heads, anchors, targets, loss."""
from tracking.models.config import PRESETS, SiamRPNConfig, config_from_dict, get_config
from tracking.models.siamrpn import SiamRPN

__all__ = ["PRESETS", "SiamRPN", "SiamRPNConfig", "config_from_dict", "get_config"]
