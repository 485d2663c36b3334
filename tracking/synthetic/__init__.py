"""Synthetic tracking videos (deterministic from a seed) and writers of the real benchmark file formats."""
from tracking.synthetic.video import SyntheticVideo, generate_video, generate_videos
from tracking.synthetic.writers import write_got10k, write_lasot, write_otb, write_uav123, write_vot

__all__ = ["SyntheticVideo", "generate_video", "generate_videos", "write_otb", "write_vot", "write_got10k",
           "write_lasot", "write_uav123"]
