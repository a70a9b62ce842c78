
mod scrub;
