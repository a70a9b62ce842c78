mod observe;
mod observe_sim;
mod request;
mod simulator;
mod tokenizer;
mod util;
mod replay;
mod cli;
