mod request;
mod scrub;
mod simulator;
mod tokenizer;
