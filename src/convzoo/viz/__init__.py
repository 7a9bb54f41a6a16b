"""Pictures of every kind of convolution: animations (frames as data) and block diagrams."""

from .animation import DEFAULT_MAX_FRAMES, animation, views
from .frames import Animation, Frame, Grid, Stage, Step

__all__ = ["DEFAULT_MAX_FRAMES", "Animation", "Frame", "Grid", "Stage", "Step", "animation", "views"]
