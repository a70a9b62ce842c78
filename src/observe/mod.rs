//! The recording proxy behind `cohere-bundle observe`.
//! (Being built: see issue 6.)
