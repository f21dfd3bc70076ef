"""abrnet.models"""
