"""Model backends. Each module is a default plugin registering one provider kind."""
