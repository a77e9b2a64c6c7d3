"""The lecture's math: estimators, losses, distributions, optimiser steps, normalisation. Torch and NumPy only."""
