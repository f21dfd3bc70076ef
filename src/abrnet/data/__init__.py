"""abrnet.data"""
