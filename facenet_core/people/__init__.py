"""People: who each face belongs to, and the rules that keep the user's word.

Works on numpy arrays and the store; never imports torch.
"""
