// Package config is Kong's declarative configuration format 3.0 as typed Go
// values: strict decoding of YAML or JSON (unknown fields, wrong types and
// dangling references are errors with their field path), Kong's defaults,
// validation, Kong vault references read from the environment, opt-in
// `${ENV_VAR}` expansion, and the flattened Model that the snapshot
// compiler consumes. It imports nothing from the runtime.
package config
