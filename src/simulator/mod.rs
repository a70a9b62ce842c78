//! A simulated Cohere API on 127.0.0.1, used by the tests and by `cohere-bundle demo`.
//! (Being built: see issue 2. The public API below is the contract other modules use.)
