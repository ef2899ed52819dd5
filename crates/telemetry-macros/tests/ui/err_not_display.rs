use telemetry_macros::traced;

struct Opaque;

// An `Err` is recorded through `Display`, which `Opaque` lacks.
#[traced]
fn fallible() -> Result<u8, Opaque> {
    Err(Opaque)
}

fn main() {
    let _ = fallible();
}
