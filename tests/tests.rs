
mod observe;
mod observe_sim;
mod simulator;
