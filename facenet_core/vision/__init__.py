"""Everything that looks at pixels: detectors, landmarks, alignment, embedding, the device policy
and the model cache. The only users of torch, dlib and OpenCV besides ``models``."""
