"""abrnet.training"""
