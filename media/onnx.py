"""One way to open an ONNX model for the CPU, shared by the face (media.redact) and text
(media.text) detectors."""

from __future__ import annotations


def cpu_session(model: str | bytes, threads: int = 0):
    """An onnxruntime session on the CPU for ``model`` (a path or serialised bytes).

    No busy-waiting between operators: on a shared machine spinning threads steal the cores that
    the decoder, the encoder and other jobs need. ``threads`` 0 lets onnxruntime use every core.
    """
    import onnxruntime  # here, so that importing the detectors stays cheap

    options = onnxruntime.SessionOptions()
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(model, options, providers=["CPUExecutionProvider"])
