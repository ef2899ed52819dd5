use telemetry_macros::traced;

#[traced]
struct Config {
    port: u16,
}

#[traced]
const fn answer() -> u8 {
    42
}

fn main() {
    // The items are still emitted, so using them adds no errors.
    let _ = Config { port: answer().into() }.port;
}
