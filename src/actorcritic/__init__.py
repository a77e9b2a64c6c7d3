"""actorcritic: the actor-critic family of reinforcement-learning methods, as the lecture teaches them."""
