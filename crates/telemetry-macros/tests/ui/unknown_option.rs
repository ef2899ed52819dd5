use telemetry_macros::traced;

#[traced(nmae = "typo")]
fn handler() {}

fn main() {
    handler();
}
