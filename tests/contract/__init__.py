"""The contract suite: every registered algorithm through the same checks (STYLE.md, "Tests, in tiers", 5)."""
