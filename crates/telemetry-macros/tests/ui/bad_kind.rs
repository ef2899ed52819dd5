use telemetry_macros::traced;

#[traced(kind = "sever")]
fn serve() {}

fn main() {
    serve();
}
