
mod observe;
