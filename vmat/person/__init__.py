"""Person models: BlazePose detection, landmarks with person segmentation, and selfie segmentation.

Torch ports of the Apache-2.0 MediaPipe models, with weights converted from the TFLite originals
(see ``vmat/weights/person/NOTICE``).
"""
