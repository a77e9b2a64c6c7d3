"""Networks: MLPs, stacked members, the actor-critic, critic ensembles, actors, the CNN, NumPy acting copies."""
