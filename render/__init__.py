"""What draws: the renderer (one pyrender EGL context per process), the AR compositor, and the annotator
(pure numpy: labels from the rendered buffers). Reads ``assets`` and ``core``; never the scene builders."""
