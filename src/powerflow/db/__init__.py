"""The durable store: models, connections and migrations."""
