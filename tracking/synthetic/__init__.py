"""Synthetic tracking videos (deterministic from a seed) and writers of the real benchmark file formats."""
from tracking.synthetic.video import SyntheticVideo, generate_video, generate_videos

__all__ = ["SyntheticVideo", "generate_video", "generate_videos"]
