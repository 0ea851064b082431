//! A model that replays scripted turns.
