//! `Policy::from_file`: the TOML policy file.
