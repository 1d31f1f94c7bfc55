use clap::Parser;

fn main() {
    let cli = churn::cli::Cli::parse();
    if let Err(e) = churn::run(cli) {
        eprintln!("error: {e}");
        std::process::exit(e.code());
    }
}
