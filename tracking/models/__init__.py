"""Network components: backbones (a registry), necks, heads, correlation ops, anchors, targets, losses, and the
SiamRPN/SiamRPN++ network with its config."""
