//! systemd-style unit files: the raw layer (sections, keys, values with lines) and
//! the validated layer that turns them into the model.
