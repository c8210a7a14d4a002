"""DNN descriptions for edgesim: layer tables and per-device cost models.

This package never imports ``sim``: a model and what it costs on a device are
facts about the network and the hardware, not about the simulation.
"""
