//! Picking a model from the environment.
