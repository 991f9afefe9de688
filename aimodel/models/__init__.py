"""Model factory and one module per architecture family."""
