"""dlib's face recognition pipeline after the landmarks, in numpy and torch: chips and the descriptor ResNet."""
