"""nbmodels: Keras 3 models for notebooks, and the dashboards that watch them train."""
