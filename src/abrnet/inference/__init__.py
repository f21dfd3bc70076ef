"""abrnet.inference"""
