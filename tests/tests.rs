mod simulator;
mod tokenizer;
