//! Configuration errors: one [`ConfigError`] per problem, each naming the key
//! path (or environment variable) at fault, gathered into [`ConfigErrors`].

use std::fmt;
use std::path::PathBuf;

/// One problem with the configuration. `path` is a key path such as
/// `caches[1].protocol`, followed by `(from WIRECACHE_…)` when the value came
/// from the environment.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: cannot read config file: {source}", path = path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("line {line}, column {column}: {message}")]
    Syntax {
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{path}: unknown key (expected one of: {})", known.join(", "))]
    UnknownKey { path: String, known: Vec<String> },
    #[error("{path}: missing key")]
    MissingKey { path: String },
    /// A value that cannot be read, or that does not fit with others.
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
    #[error(
        "caches: no caches defined (add a [[caches]] section or WIRECACHE_CACHES_0_* variables)"
    )]
    NoCaches,
    #[error("{var}: unknown environment variable (no such configuration key)")]
    UnknownEnvVar { var: String },
    #[error("{var}: {what} index {index} leaves a gap (the next new {what} is index {next})")]
    EnvGap {
        var: String,
        what: String,
        index: usize,
        next: usize,
    },
}

/// Every problem found in one load; never empty when returned as an error.
#[derive(Debug)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl ConfigErrors {
    pub fn errors(&self) -> &[ConfigError] {
        &self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<ConfigError> for ConfigErrors {
    fn from(error: ConfigError) -> Self {
        ConfigErrors(vec![error])
    }
}

/// One problem per line.
impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lines: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        f.write_str(&lines.join("\n"))
    }
}

impl std::error::Error for ConfigErrors {}
