"""Lightning data modules: training pairs from ImageNet VID/DET, COCO, YouTube-BB, GOT-10k and LaSOT."""
