fn main() {
    std::process::exit(churn::main());
}
