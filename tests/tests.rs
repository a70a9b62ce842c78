
mod request;
