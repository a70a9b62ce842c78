mod request;
mod simulator;
