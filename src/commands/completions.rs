//! `churn completions SHELL`: a completion script for the shell, from the
//! same clap definitions as the command line (clap_complete).

use clap::{Args, CommandFactory};
use clap_complete::Shell;

use crate::error::Result;

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell: bash, zsh, fish, elvish or powershell. Install, e.g. for
    /// bash: `churn completions bash > ~/.local/share/bash-completion/completions/churn`.
    #[arg(value_enum)]
    pub shell: Shell,
}

impl CompletionsArgs {
    pub fn run(&self) -> Result<()> {
        let mut cmd = super::Cli::command();
        clap_complete::generate(self.shell, &mut cmd, "churn", &mut std::io::stdout());
        Ok(())
    }
}
