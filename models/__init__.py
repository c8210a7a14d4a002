"""DNN descriptions for edgesim: layer tables and per-device cost models.

This package never imports ``sim``: a model and what it costs on a device are
facts about the network and the hardware, not about the simulation. Importing it is
cheap; onnx is loaded by the submodules that need it.
"""


class ModelError(ValueError):
    """A model edgesim cannot use, with the reason."""
