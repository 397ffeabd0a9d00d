"""Prevention: policy checks at customer touchpoints."""
