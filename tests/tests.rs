mod request;
mod simulator;
mod tokenizer;
