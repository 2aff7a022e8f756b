extern crate solutions as subject;
